"""The app layer: what runs the dashboard's web server. Like ``finance.ui``, it may import Streamlit;
nothing in the metric core imports it."""

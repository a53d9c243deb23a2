"""The dashboard: its web server, sign-in gate, cached loaders and sidebar; the only layer that imports Streamlit."""

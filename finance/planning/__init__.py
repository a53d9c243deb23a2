"""Budget planning: response curves, allocation, plans and their projections."""

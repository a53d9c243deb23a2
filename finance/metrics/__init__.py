"""The metric table: fully loaded CAC, LTV, LTV:CAC and payback per period, from the assumptions."""

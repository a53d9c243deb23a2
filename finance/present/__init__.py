"""What people read: charts, exports, the board pack and its PDF."""

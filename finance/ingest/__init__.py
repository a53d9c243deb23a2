"""Reading the files users bring: CSV decoding and the validation that turns them into typed rows."""

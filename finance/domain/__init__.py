"""The words of the business, with no I/O: money, periods, categories and bands, text forms, access rules, problems."""

"""pandas in/out: fit results, data sets, command line."""

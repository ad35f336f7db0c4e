"""Layer diagnostics: representation similarity (cka) and transferability scores (scores),
pure NumPy on features a caller extracts."""

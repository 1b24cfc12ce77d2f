"""The customer portal: the one surface an operator exposes to the internet."""

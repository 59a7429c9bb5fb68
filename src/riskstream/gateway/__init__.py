"""HTTP views for the payment gateway and the Python client it uses."""

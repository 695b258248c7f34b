"""Order Management Service: the code that runs in Lambda."""

"""The worker's HTTP API: the contract's endpoints, routing to the owning worker, guard rails."""

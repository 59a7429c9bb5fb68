"""Topic names, the contract's records, their codec and validation."""

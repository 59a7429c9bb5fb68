"""The Faust app and its agents: decode, call the domain, send."""

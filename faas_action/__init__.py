"""faas-action: deploy serverless functions from a GitHub container action."""

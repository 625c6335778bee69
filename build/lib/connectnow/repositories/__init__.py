"""Repositories: one per aggregate, written once over the storage port, so both adapters share them."""

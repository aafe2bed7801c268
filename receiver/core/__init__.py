"""The pure core: data types and decisions, no I/O.

Nothing here imports aiohttp, kubernetes_asyncio or any other layer of the receiver (the import contracts in
pyproject.toml enforce it), so every rule can be tested as a table of inputs and outputs.
"""

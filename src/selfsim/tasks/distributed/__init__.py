"""Jobs past one machine, on Ray: batch indexing as a Ray Data pipeline, sharded vector search on actors.

Ray is the optional extra ``selfsim[ray]``; it is imported only inside these modules' functions, so
``import selfsim`` and every command without ``--ray`` work without it.
"""

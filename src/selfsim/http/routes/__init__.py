"""The service's routes, one module per job; :data:`ROUTERS` is every router, in the order they mount."""

from selfsim.http.routes import classify, collections, explain, items, jobs, recommend, search, topics

ROUTERS = [collections.router, items.router, search.router, topics.router, classify.router, recommend.router,
           explain.router, jobs.router]

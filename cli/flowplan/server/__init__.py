"""`flowplan server`: Prefect's REST API, the part deployments and runs need, over the local store.

Layout: `compat` maps flowplan's objects to Prefect's JSON (pure), `filters` applies Prefect's
filter and sort bodies to that JSON (pure), `run_query` turns the common run filters into one
SQL page (pure), `router` matches paths, `api_*` hold the routes, `params` checks a run's
parameters at the door, `auth` the token rule, `openapi` the route list, `http` the HTTP layer
(standard library only) and `app` starts and stops the process.
"""

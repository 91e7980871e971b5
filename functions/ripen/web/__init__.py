"""The web side of the `api` function: routes (Powertools routers) and the pages they show."""

"""Console URLs of loyalty's tiers part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

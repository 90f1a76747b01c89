"""Console URLs of loyalty's points part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

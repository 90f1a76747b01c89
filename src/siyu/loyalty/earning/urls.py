"""Console URLs of loyalty's earning part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

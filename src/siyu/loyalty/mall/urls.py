"""Console URLs of loyalty's mall part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

"""Console URLs of loyalty's checkin part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

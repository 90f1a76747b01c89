"""Console URLs of loyalty's coupons part (namespace `console`, under /loyalty/)."""

urlpatterns: list = []

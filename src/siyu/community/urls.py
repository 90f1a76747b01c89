"""Console URLs of community, included under /community/ by siyu.console.urls (namespace `console`)."""

urlpatterns: list = []

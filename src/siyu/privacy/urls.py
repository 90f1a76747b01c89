"""Console URLs of privacy, included under /privacy/ by siyu.console.urls (namespace `console`)."""

urlpatterns: list = []

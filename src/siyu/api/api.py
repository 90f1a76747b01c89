from ninja import NinjaAPI

api = NinjaAPI(title="Siyu API", version="1", docs_url="/docs")

"""Console URLs of loyalty's mall part (namespace `console`, under /loyalty/)."""

from django.urls import path

from siyu.loyalty.mall import views

urlpatterns: list = [
    path("mall/", views.items, name="loyalty_mall"),
    path("mall/items/<int:item_id>/", views.item, name="loyalty_mall_item"),
    path("mall/redemptions/", views.redemptions, name="loyalty_mall_redemptions"),
    path("mall/redemptions/<int:redemption_id>/change/", views.redemption_change, name="loyalty_mall_redemption_change"),
    path("mall/fulfilment.csv", views.fulfilment, {"fmt": "csv"}, name="loyalty_mall_fulfilment_csv"),
    path("mall/fulfilment.xlsx", views.fulfilment, {"fmt": "xlsx"}, name="loyalty_mall_fulfilment_xlsx"),
]

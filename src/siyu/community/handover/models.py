"""Models of this part of community (gathered in siyu.community.models)."""

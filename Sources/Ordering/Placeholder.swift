enum _PlaceholderOrdering {}

enum _PlaceholderHTTPAPI {}

enum _PlaceholderOrchestrator {}

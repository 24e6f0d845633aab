enum _PlaceholderMessageBus {}

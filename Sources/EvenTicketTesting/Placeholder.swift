enum _PlaceholderEvenTicketTesting {}

enum _PlaceholderPayment {}

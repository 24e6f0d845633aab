enum _PlaceholderInvoicing {}

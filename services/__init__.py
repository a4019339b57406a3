"""The platform's services. Each is a small hexagon: domain, store, api, events, main."""

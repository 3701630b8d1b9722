mod wsgi_bridge;

import FCGIPassThrough

print("fcgi-pass-through")

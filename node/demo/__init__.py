"""`tafuta demo`: a network of nodes on this machine built with the real code paths."""

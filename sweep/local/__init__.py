"""The embedded local studio: a server speaking the Edge Impulse train routes, training real Keras models offline."""

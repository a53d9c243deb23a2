"""Customer lifetime value: the methods, their fitted models and the back-test that scores them."""

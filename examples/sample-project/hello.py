print("hello from the sample project")

"""Input and output: which files a run reads and how they are cut into batches (main
process only), the output folder and the output formats, and the scratch files tasks
leave for each other."""

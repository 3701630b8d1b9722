
mod parser;

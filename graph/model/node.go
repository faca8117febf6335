package model

// Node is any object with a global id. It is empty so that storage models satisfy it without
// carrying GraphQL methods; the executable schema tells the concrete types apart.
type Node interface{}

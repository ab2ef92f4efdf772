// eslint-disable-next-line no-console
console.log("loopwire: no commands yet")

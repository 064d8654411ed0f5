import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
const S = Schema.Struct({ n: Schema.optionalWith(Schema.Int, { default: () => 0 }), t: Schema.optionalWith(Schema.Trim, { default: () => "" }), a: Schema.Array(Schema.String) })
const ast = S.ast
console.log(ast._tag, ast.transformation._tag, ast.to._tag, SchemaAST.isTypeLiteralTransformation(ast.transformation))
for (const ps of ast.to.propertySignatures) console.log(ps.name, ps.isOptional, ps.type._tag, SchemaAST.encodedAST(ps.type) === ps.type, SchemaAST.typeAST(ps.type) === ps.type)
for (const ps of ast.from.propertySignatures) console.log("from", ps.name, ps.isOptional, ps.type._tag, SchemaAST.encodedAST(ps.type) === ps.type)

(defrule r =>
  (printout t (progn$ (?v (create$ 5 6)) (* ?v ?v-index)) " " (foreach ?v (create$ a b) (sym-cat ?v ?v)) crlf))
;;; script
(run)

(deftemplate item (slot k))
(defrule make => (bind ?f (assert (item (k 1)))) (printout t "made " (fact-index ?f) crlf) (bind ?g (assert (item (k 1)))) (printout t "duplicate gives " ?g crlf) (retract ?f) (printout t "retracted" crlf))
(defrule seen (item (k ?k)) => (printout t "seen " ?k crlf))
;;; script
(run)
